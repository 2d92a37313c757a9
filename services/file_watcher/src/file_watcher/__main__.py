from file_watcher.main import main

main()
