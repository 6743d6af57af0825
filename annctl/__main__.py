from annctl.cli import main

main()
