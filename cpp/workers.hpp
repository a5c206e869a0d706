// Short-lived worker threads for one batch call, each started on a CPU other than the caller's.
//
// Left to itself, Linux starts a new thread on its parent's CPU when that CPU has been mostly
// idle (a caller back from a sleep or a read), and the thread then waits there for the parent's
// time slice: measured on a 2-vCPU machine, a 5 ms batch ran on one core for its first 2-3 ms.
// So each worker is created on its own CPU and, once running, allowed back onto every CPU the
// process may use, so the scheduler can still move it off a CPU that gets busy.
#pragma once

#include <functional>
#include <memory>
#include <thread>
#include <vector>

#ifdef __linux__
#include <pthread.h>
#include <sched.h>
#endif

namespace quartz {

class Workers {
 public:
  Workers() {
#ifdef __linux__
    CPU_ZERO(&allowed_);
    if (sched_getaffinity(0, sizeof allowed_, &allowed_) != 0) return;
    const int here = sched_getcpu();
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &allowed_) && c != here) others_.push_back(c);
#endif
  }
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;
  ~Workers() { join(); }

  // Runs `body` on a new thread; the n-th started goes to the n-th CPU other than the caller's.
  void start(std::function<void()> body) {
#ifdef __linux__
    if (!others_.empty()) {
      auto task = std::make_unique<Task>(Task{std::move(body), allowed_});
      cpu_set_t one;
      CPU_ZERO(&one);
      CPU_SET(others_[posix_.size() % others_.size()], &one);
      pthread_attr_t attr;
      pthread_attr_init(&attr);
      pthread_attr_setaffinity_np(&attr, sizeof one, &one);
      pthread_t handle;
      const bool started = pthread_create(&handle, &attr, &Workers::run, task.get()) == 0;
      pthread_attr_destroy(&attr);
      if (started) {
        task.release();  // run() owns it now
        posix_.push_back(handle);
        return;
      }
      body = std::move(task->body);
    }
#endif
    plain_.emplace_back(std::move(body));
  }

  void join() {
#ifdef __linux__
    for (pthread_t h : posix_) pthread_join(h, nullptr);
    posix_.clear();
#endif
    for (auto& t : plain_) t.join();
    plain_.clear();
  }

 private:
#ifdef __linux__
  struct Task {
    std::function<void()> body;
    cpu_set_t allowed;
  };
  static void* run(void* arg) {
    std::unique_ptr<Task> task(static_cast<Task*>(arg));
    sched_setaffinity(0, sizeof task->allowed, &task->allowed);
    task->body();
    return nullptr;
  }
  cpu_set_t allowed_;
  std::vector<int> others_;
  std::vector<pthread_t> posix_;
#endif
  std::vector<std::thread> plain_;
};

}  // namespace quartz
