import sys

from bench.run import again, main

PARTS = ("choices", "tiers")  # `python -m bench <part>`: that part again, the rest of the last full run kept

if not sys.argv[1:]:
    sys.exit(main())
if len(sys.argv) == 2 and sys.argv[1] in PARTS:
    sys.exit(again(sys.argv[1]))
sys.exit(f"usage: python -m bench [{' | '.join(PARTS)}]  (no argument: the whole bench)")
