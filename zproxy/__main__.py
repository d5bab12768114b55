from zproxy.cli import main

raise SystemExit(main())
