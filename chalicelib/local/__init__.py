"""The embedded local stack: moto server, tables/queues, API, SQS pollers, scheduler emulator."""
