from sessionrec.cli import main

main()
