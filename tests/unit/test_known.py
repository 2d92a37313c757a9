"""KnownFiles: signatures packed into one int each, exactly."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from file_watcher.known import KnownFiles, pack, unpack
from file_watcher.scan import Signature

u64 = st.integers(min_value=0, max_value=(1 << 64) - 1)
i64 = st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1)


@given(u64, i64, u64)
def test_pack_round_trips(size: int, mtime_ns: int, inode: int) -> None:
    signature = Signature(size, mtime_ns, inode)
    assert unpack(pack(signature)) == signature


@given(st.tuples(u64, i64, u64), st.tuples(u64, i64, u64))
def test_different_signatures_never_pack_alike(
    a: tuple[int, int, int], b: tuple[int, int, int]
) -> None:
    if a != b:
        assert pack(Signature(*a)) != pack(Signature(*b))


def test_behaves_like_the_dict_it_replaces() -> None:
    known = KnownFiles([("a.txt", Signature(1, 2, 3))])
    known["d/b.txt"] = Signature(4, -5, 6)
    assert known == {"a.txt": Signature(1, 2, 3), "d/b.txt": Signature(4, -5, 6)}
    assert known.get("missing") is None
    assert known.matches("a.txt", Signature(1, 2, 3))
    assert not known.matches("a.txt", Signature(1, 2, 4))
    assert known.pop("a.txt") == Signature(1, 2, 3)
    assert known.pop("a.txt", None) is None
    assert list(known) == ["d/b.txt"] and len(known) == 1 and "d/b.txt" in known
