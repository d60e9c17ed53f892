"""``python -m rtpctl``."""

from .main import main

main()
