"""What the adapters talk to: ``ChatClient`` / ``AsyncChatClient`` (profile + protocol +
transport), the streams that own their result, server-side token counting, and the in-process
GPT4All engine behind the same protocol. Imports every layer below it."""
