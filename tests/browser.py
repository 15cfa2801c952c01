"""Helpers for the browser tests (Playwright driving Debian's chromium)."""

WAIT_MS = 30_000


def login_by_keyboard(page, url: str, username: str, password: str = "pw-for-tests") -> None:
    """Open `url` (a login page) and sign in with the keyboard alone. Chromium applies
    `autofocus` after the load event at times, so typing waits until the username field has
    the focus: keys typed before that are lost and the login fails."""
    page.goto(url)
    page.wait_for_function(
        "() => document.activeElement && document.activeElement.name === 'username'",
        timeout=WAIT_MS,
    )
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(password)
    page.keyboard.press("Enter")
