from timetravel.cli import main

main()
