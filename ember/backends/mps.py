"""ember.backends.mps: Apple's Metal backend, which ember does not have (is_available() is False)."""

__all__ = ['is_available', 'is_built', 'is_macos13_or_newer', 'is_macos_or_newer']


def is_available():
    return False


def is_built():
    return False


def is_macos13_or_newer(minor=0):
    return False


def is_macos_or_newer(major, minor):
    return False
