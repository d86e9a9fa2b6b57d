from airgap_tui.cli.launch import main

raise SystemExit(main())
