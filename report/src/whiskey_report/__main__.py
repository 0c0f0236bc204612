from whiskey_report.cli import main

raise SystemExit(main())
