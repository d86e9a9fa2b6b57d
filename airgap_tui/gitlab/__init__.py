"""Talking to a GitLab instance: read its CI templates and its version through the REST API.

The offline GitLab knows exactly which scanner images its pipelines pull; this package asks it.
Nothing here imports Textual, a registry client or the bundle code.
"""
