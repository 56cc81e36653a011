"""The eval pages: the form (`form`), the runner that works on the server whoever watches
(`running`), the permalink and history (`pages`), exports (`exports`) and the API (`api`).
"""
