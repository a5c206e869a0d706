"""LLM roles: Gemini and OpenAI clients, and the deterministic rule engines that stand in for
them in `local`, without keys, or when a call fails."""
