from claudio_ci.cli import main

raise SystemExit(main())
