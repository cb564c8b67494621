"""Local infrastructure: a single-node Apache Kafka broker from Maven Central's jars, a
standalone Flink cluster from the PyFlink wheel, and tools to feed and watch sessions."""
