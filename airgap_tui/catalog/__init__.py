"""GitLab knowledge: the analyzers per major, the CI templates' images, the snippet. No network."""
