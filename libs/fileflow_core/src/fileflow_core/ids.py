"""Root ids: what names a root in settings, messages and rows."""

ROOT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
