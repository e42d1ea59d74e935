from embviz.cli import main

main()
