"""The SDK's Server and its handlers: tools, resources, prompts, subscriptions."""
