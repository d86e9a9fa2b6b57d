from airgap_tui.cli import main

raise SystemExit(main())
