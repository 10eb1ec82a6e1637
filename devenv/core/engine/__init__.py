"""The Docker Engine API: the connection, a fast read-only client, container documents, exec.

- ``client``: the docker-py ``APIClient``, resolved like the docker CLI (DOCKER_HOST, context);
- ``rawapi``: a stdlib read-only client over the local socket, for fast ``status``;
- ``containers``: Compose's labels and inspect documents -> :class:`~devenv.core.models.ContainerInfo`;
- ``execio``: streaming exec (stdin in, stdout out) for dumps and restores.

Importing this package loads nothing heavy: docker-py comes with ``client`` only.
"""
