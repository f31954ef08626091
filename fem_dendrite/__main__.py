from fem_dendrite.cli import main

raise SystemExit(main())
