"""The source file that docs/includes.md includes from, to show (and let the build check) how a
chapter's code excerpt comes from the code itself. No chapter uses it."""


def discounted_returns(rewards: list[float], gamma: float) -> list[float]:
    """G_t = r_t + gamma * G_{t+1} for every step of one finished episode, computed backwards."""
    # --8<-- [start:returns]
    returns, running = [], 0.0
    for reward in reversed(rewards):
        running = reward + gamma * running  # G_t from G_{t+1}
        returns.append(running)
    return returns[::-1]
    # --8<-- [end:returns]


if __name__ == "__main__":
    print(discounted_returns([1.0, 1.0, 1.0], gamma=0.5))  # [1.75, 1.5, 1.0]
