"""The edition readers get: URLs, the issue indexes, and every page, feed and sitemap
rendered from those indexes, plus the plan of what a change rewrites.

Pure functions of the published state: the local build and the cloud pipeline call the
same ones, which is why their bytes are the same.
"""
