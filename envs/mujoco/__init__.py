"""The MuJoCo world: MJX tasks, brax PPO experts, action-token policies, trajectory-pair datasets, its Domain."""
