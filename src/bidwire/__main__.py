from bidwire.cli import main

main()
