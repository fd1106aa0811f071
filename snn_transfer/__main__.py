from snn_transfer.cli import main

raise SystemExit(main())
