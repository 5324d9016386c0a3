"""A tool call: check the arguments, perform the request, read the answer, render the result."""
