from originchats.cli import main

raise SystemExit(main())
