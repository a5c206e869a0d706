from quartz_cli.cli.main import main

main()
