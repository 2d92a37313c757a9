from ingestor.main import main

main()
