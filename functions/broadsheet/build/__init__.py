"""The local build: the archive read from a folder, the article cache, the full build
into a folder, and the preview server."""
