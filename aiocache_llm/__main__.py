"""``python -m aiocache_llm``: the ``aiocache-llm`` command."""

from .cli import main

main(prog_name="aiocache-llm")
