from triaged.cli.main import main

main()
