"""`python -m smpp.sim`: see `smpp.sim.cli`."""

from smpp.sim.cli import main

raise SystemExit(main())
