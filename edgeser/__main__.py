from edgeser.cli import main

main()
