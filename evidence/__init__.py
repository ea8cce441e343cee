"""The evidence as bytes and files: safe read-only opening, the walk of a source, the probe of each entry (hashes,
type, image header, completeness), the container parsers, file times and the display of suspect text.

Plain Python: this package never imports Django, nor any other part of the project, so it is tested on files alone
and imported by every layer above it.
"""
