"""The registry as a client sees it: the image model, auth, transport, pull and push. Knows no
bundle and no pipeline.
"""
