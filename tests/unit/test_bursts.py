from file_watcher.bursts import BurstWatch


def test_a_burst_is_many_events_within_the_window() -> None:
    bursts = BurstWatch(hint_events=100, window_s=2.0)
    assert not bursts.saw(60, now=10.0)
    assert bursts.saw(40, now=11.0)
    assert bursts.saw(1, now=11.5)  # still the same window


def test_events_spread_over_windows_are_no_burst() -> None:
    bursts = BurstWatch(hint_events=100, window_s=2.0)
    for second in range(20):
        assert not bursts.saw(60, now=float(second * 3))


def test_the_rescan_trails_the_last_burst() -> None:
    bursts = BurstWatch(quiet_s=2.0, longest_wait_s=30.0)
    assert bursts.rescan_delay(now=100.0) == 2.0
    assert bursts.rescan_delay(now=101.0) == 2.0  # re-asked: two seconds after this one


def test_a_burst_that_never_ends_is_rescanned_at_the_longest_wait() -> None:
    bursts = BurstWatch(quiet_s=2.0, longest_wait_s=30.0)
    bursts.rescan_delay(now=100.0)
    assert bursts.rescan_delay(now=129.0) == 1.0
    assert bursts.rescan_delay(now=135.0) == 0.0
    bursts.rescan_started()
    assert bursts.rescan_delay(now=136.0) == 2.0  # the next wait counts from the next burst


def test_the_window_counts_a_burst_s_rate() -> None:
    bursts = BurstWatch(window_s=2.0)
    bursts.saw(100, now=0.0)
    bursts.saw(100, now=1.5)
    assert bursts.window_events == 200
    bursts.saw(50, now=2.5)  # a new window
    assert bursts.window_events == 50
