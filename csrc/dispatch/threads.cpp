// The thread pool (threads.h): OpenMP as the one pool, OpenBLAS's work handed to it through
// its threads callback, and the thread count of each call. Uses common.h only.
#include "dispatch/threads.h"

#include <omp.h>

#include <atomic>
#include <cstddef>
#include <thread>
#include <vector>

#include "common.h"

extern "C" {
typedef void (*openblas_dojob_callback)(int thread_num, void* jobdata, int dojob_data);
typedef void (*openblas_threads_callback)(int sync, openblas_dojob_callback dojob, int numjobs,
                                          size_t jobdata_elsize, void* jobdata, int dojob_data);
void scipy_openblas_set_threads_callback_function(openblas_threads_callback callback);
void scipy_openblas_set_num_threads(int num_threads);
int scipy_openblas_get_num_threads(void);
}

namespace pynn {
namespace {

std::atomic<int> g_num_threads{0};  // 0: not set, follow OpenMP's default
thread_local int t_threads = 1;

// OpenBLAS splits a GEMM into numjobs jobs and we run them on our OpenMP team. The jobs
// are NOT independent: level-3 threading has every job wait (spinning) for the panels the
// others pack, so all numjobs must run at the same time. A team smaller than numjobs
// spins forever -- which is what happened when the caller's OpenMP limit (torch's or
// threadpoolctl's omp_set_num_threads) was below OpenBLAS's thread count. So the team
// is sized by numjobs, not by the caller's limit, and should OpenMP still give fewer
// threads (dynamic teams, OMP_THREAD_LIMIT, nesting), the missing jobs get threads of
// their own.
void openblas_on_openmp(int /*sync*/, openblas_dojob_callback dojob, int numjobs,
                        size_t jobdata_elsize, void* jobdata, int dojob_data) {
    auto run = [&](int i) {
        dojob(i, static_cast<char*>(jobdata) + static_cast<size_t>(i) * jobdata_elsize, dojob_data);
    };
    if (numjobs <= 1) {
        if (numjobs == 1) run(0);
        return;
    }
#pragma omp parallel num_threads(numjobs)
    {
        const int team = omp_get_num_threads(), me = omp_get_thread_num();
        std::vector<std::thread> extra;
        if (me == 0)
            for (int i = team; i < numjobs; ++i) extra.emplace_back(run, i);
        if (me < numjobs) run(me);
        for (auto& t : extra) t.join();
    }
}

}  // namespace

void threads_init() { scipy_openblas_set_threads_callback_function(openblas_on_openmp); }

void set_num_threads(int n) {
    if (n < 1) throw InputError("num_threads must be >= 1");
    g_num_threads.store(n);
    omp_set_num_threads(n);
    scipy_openblas_set_num_threads(n);
}

ThreadSettings thread_settings() {
    return {g_num_threads.load(), omp_get_max_threads(), scipy_openblas_get_num_threads()};
}

void restore_thread_settings(const ThreadSettings& s) {
    if (s.requested < 0) throw InputError("requested must be >= 0 (0: no pynn setting)");
    if (s.openmp < 1 || s.openblas < 1) throw InputError("openmp and openblas must be >= 1");
    g_num_threads.store(s.requested);
    omp_set_num_threads(s.openmp);
    scipy_openblas_set_num_threads(s.openblas);
}

// threadpoolctl limits OpenMP with omp_set_num_threads in the calling thread; honour it.
int effective_threads() {
    const int set = g_num_threads.load();
    const int omp = omp_get_max_threads();
    return set > 0 && set < omp ? set : omp;
}

// What the next call will use: under threadpoolctl's limit, the limit.
int get_num_threads() { return effective_threads(); }

int current_threads() { return t_threads; }

ThreadScope::ThreadScope(int n) : previous(t_threads) { t_threads = n > 0 ? n : 1; }
ThreadScope::~ThreadScope() { t_threads = previous; }

}  // namespace pynn
