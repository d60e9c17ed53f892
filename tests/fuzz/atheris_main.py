"""Coverage-guided fuzzing with atheris (libFuzzer): one target per run.

    python tests/fuzz/atheris_main.py TARGET [libFuzzer options, e.g. -runs=1000000 corpus_dir]

Targets are those of ``targets.py``; the seeds of ``seeds.py`` are written to a fresh
corpus directory when none is given. Needs ``pip install atheris``.
"""

from __future__ import annotations

import os
import sys
import tempfile

_TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.dirname(_TESTS), _TESTS]


def main() -> None:
    import atheris

    with atheris.instrument_imports():
        from fuzz.seeds import seeds_for
        from fuzz.targets import TARGETS

    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(TARGETS)}}} [libFuzzer options]")
    name = sys.argv.pop(1)
    if not any(not arg.startswith("-") for arg in sys.argv[1:]):
        corpus = tempfile.mkdtemp(prefix=f"rtpengined-fuzz-{name}-")
        for index, seed in enumerate(seeds_for(name)):
            with open(os.path.join(corpus, f"seed-{index}"), "wb") as handle:
                handle.write(seed)
        sys.argv.append(corpus)
    atheris.Setup(sys.argv, TARGETS[name])
    atheris.Fuzz()


if __name__ == "__main__":
    main()
