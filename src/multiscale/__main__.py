from multiscale.cli import main

raise SystemExit(main())
