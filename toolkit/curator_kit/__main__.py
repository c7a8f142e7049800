from curator_kit.cli import main

main()
