"""One client class per external system, serving extract (StreamSource) and load (RecordWriter) alike, and each
system's stream declarations."""
