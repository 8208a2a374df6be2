import sys

from bench.run import choices_only, main

sys.exit(choices_only() if sys.argv[1:] == ["choices"] else main())
