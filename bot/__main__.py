"""`python -m bot` is `dlxh run`."""

from bot.cli import run

if __name__ == "__main__":
    run()
