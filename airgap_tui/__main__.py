from airgap_tui.cli.commands import main

raise SystemExit(main())
