"""Serving: typed HTTP apis from a ``@dk.service`` class, adaptive batching, supervised workers.

Modules: ``service`` (``@dk.service``, :class:`ServiceDefinition`, ``load_service``), ``api``
(``@dk.api``, ``ApiSpec``), ``codecs/`` (how each type crosses HTTP; ``Tensor``), ``batching``
(``AdaptiveBatcher``), ``app`` (the ASGI app of one worker), ``openapi``, ``docs`` (Swagger
UI), ``metrics``, ``worker`` (one worker process), ``server`` (the supervisor behind
``dosirak serve``; ``serve()``), ``client`` (``ServiceClient``, ``AsyncServiceClient``).
"""
